/**
 * The repository's Dockerfile, parsed (dockerfile-ast, the parser of the linter `npm run
 * lint:docker` runs): its stages, and what the final stage gives a container at run time.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DockerfileParser, type Env, type Healthcheck, type Instruction } from 'dockerfile-ast';

export const DOCKERFILE = resolve('Dockerfile');

export interface Stage {
  /** `node:24-trixie-slim` */
  readonly image: string;
  /** The `AS` name, if any. */
  readonly name: string | undefined;
  /** Its instructions, FROM excluded. */
  readonly instructions: readonly Instruction[];
}

/** What a container of the image starts with. */
export interface Runtime {
  readonly workdir: string;
  readonly env: Readonly<Record<string, string>>;
  readonly user: string;
  readonly expose: readonly number[];
  readonly volumes: readonly string[];
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly healthcheck: { readonly flags: Readonly<Record<string, string>>; readonly command: readonly string[] };
  /** The shell commands of its RUN instructions. */
  readonly runs: readonly string[];
}

export function stagesOf(text: string): Stage[] {
  const stages: Array<{ image: string; name: string | undefined; instructions: Instruction[] }> = [];
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const [image = '', as, name] = (instruction.getArgumentsContent() ?? '').split(/\s+/);
      stages.push({ image, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (stage === undefined) throw new Error(`${instruction.getKeyword()} before the first FROM`);
      stage.instructions.push(instruction);
    }
  }
  return stages;
}

/** Every instruction of the final stage that matters at run time; exec (JSON) forms only, as a container runs them without a shell. */
export function runtimeOf(stage: Stage): Runtime {
  const all = (keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
  const last = (keyword: string) => {
    const found = all(keyword).at(-1);
    if (found === undefined) throw new Error(`the final stage has no ${keyword}`);
    return found;
  };
  const json = (instruction: Instruction): string[] => {
    const value: unknown = JSON.parse(instruction.getArgumentsContent() ?? '');
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new Error(`${instruction.getKeyword()} is not in exec form`);
    return value;
  };
  const healthcheck = last('HEALTHCHECK') as Healthcheck;
  const healthcheckCommand = /^CMD\s+(\[.*\])$/s.exec(healthcheck.getArgumentsContent() ?? '')?.[1];
  if (healthcheckCommand === undefined) throw new Error('HEALTHCHECK has no CMD in exec form');
  return {
    workdir: last('WORKDIR').getArgumentsContent() ?? '',
    env: Object.fromEntries(all('ENV').flatMap((i) => (i as Env).getProperties().map((p) => [p.getName(), p.getValue() ?? '']))),
    user: last('USER').getArgumentsContent() ?? '',
    expose: all('EXPOSE').flatMap((i) => i.getArguments().map((a) => Number(a.getValue()))),
    volumes: all('VOLUME').flatMap((i) => json(i)),
    entrypoint: json(last('ENTRYPOINT')),
    cmd: json(last('CMD')),
    healthcheck: {
      flags: Object.fromEntries(healthcheck.getFlags().map((f) => [f.getName(), f.getValue() ?? ''])),
      command: JSON.parse(healthcheckCommand) as string[],
    },
    runs: all('RUN').map((i) => i.getArgumentsContent() ?? ''),
  };
}

export function readDockerfile(path = DOCKERFILE): { stages: Stage[]; runtime: Runtime } {
  const stages = stagesOf(readFileSync(path, 'utf8'));
  const final = stages.at(-1);
  if (final === undefined) throw new Error(`${path} has no FROM`);
  return { stages, runtime: runtimeOf(final) };
}
