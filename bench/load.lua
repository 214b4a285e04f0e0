-- The requests wrk sends, set from the environment by bench/harness.ts `load`:
--   BENCH_HEADERS       extra header lines, "Name: value" each
--   BENCH_METHOD, BENCH_BODY  another method, with a body (the token endpoint)
--   BENCH_TOKENS        a file with one token per line, each sent in BENCH_TOKEN_HEADER after
--                       BENCH_TOKEN_PREFIX ("Bearer "); requests take them in turn, so many
--                       distinct tokens make every request a cold one
-- `done` prints one line `BENCH_JSON {...}` with the counts and latency percentiles (µs).

local function lines(text, each)
  for line in string.gmatch(text or "", "[^\n]+") do each(line) end
end

lines(os.getenv("BENCH_HEADERS"), function(line)
  local name, value = string.match(line, "^([^:]+): (.*)$")
  if name then wrk.headers[name] = value end
end)
if os.getenv("BENCH_METHOD") then wrk.method = os.getenv("BENCH_METHOD") end
if os.getenv("BENCH_BODY") then wrk.body = os.getenv("BENCH_BODY") end

local header = os.getenv("BENCH_TOKEN_HEADER")
local prefix = os.getenv("BENCH_TOKEN_PREFIX") or ""
local tokens = {}
if header and os.getenv("BENCH_TOKENS") then
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if line ~= "" then tokens[#tokens + 1] = line end
  end
end

if #tokens > 0 then
  -- Formatted once per thread, so sending one costs a table lookup, not a string build.
  local requests = {}
  local i = 0
  function init(args)
    for n, token in ipairs(tokens) do
      local headers = {}
      for name, value in pairs(wrk.headers) do headers[name] = value end
      headers[header] = prefix .. token
      requests[n] = wrk.format(nil, nil, headers)
    end
  end
  function request()
    i = i % #requests + 1
    return requests[i]
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"maxUs":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end
