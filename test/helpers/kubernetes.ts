/**
 * Offline checks of Kubernetes manifests against the API's schemas, as the npm package
 * kubernetes-models bundles them (and @kubernetes-models/prometheus-operator for
 * monitoring.coreos.com): nothing is fetched, no cluster is needed.
 *
 * - `schemaProblems`: the model's `validate()`, generated from the Kubernetes OpenAPI schema:
 *   types, required fields, enums and formats.
 * - `unknownFieldProblems`: those schemas allow any extra field, but the API server refuses
 *   unknown fields (`kubectl apply` validates strictly), so a misspelled `readinesProbe` would
 *   pass the schema and fail the apply. The TypeScript compiler, reading each manifest as an
 *   object literal of the same package's declared type, refuses every field the type does not name.
 */
import { join } from 'node:path';
import ts from 'typescript';

export interface Manifest {
  /** Where it comes from, for messages: `examples/…/deployment.yaml#1`. */
  readonly label: string;
  readonly value: Record<string, unknown>;
}

/** The module of the model of `apiVersion`/`kind`: `kubernetes-models/apps/v1/Deployment`. */
function modelModule(apiVersion: string, kind: string): string {
  const pkg = apiVersion.startsWith('monitoring.coreos.com/') ? '@kubernetes-models/prometheus-operator' : 'kubernetes-models';
  return `${pkg}/${apiVersion}/${kind}`;
}

function typeMeta(manifest: Manifest): { apiVersion: string; kind: string } {
  const { apiVersion, kind } = manifest.value;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^[\w.]+(\/\w+)?$/.test(apiVersion) || !/^\w+$/.test(kind)) {
    throw new Error(`${manifest.label}: no apiVersion and kind`);
  }
  return { apiVersion, kind };
}

/** The schema's complaints about one manifest; empty when it is valid. An unknown apiVersion/kind is a complaint too. */
export async function schemaProblems(manifest: Manifest): Promise<string[]> {
  const { apiVersion, kind } = typeMeta(manifest);
  let Model: new (data: unknown) => { validate(): void };
  try {
    Model = ((await import(modelModule(apiVersion, kind))) as Record<string, new (data: unknown) => { validate(): void }>)[kind]!;
  } catch {
    return [`${manifest.label}: no schema for ${apiVersion} ${kind}`];
  }
  try {
    new Model(manifest.value).validate();
    return [];
  } catch (err) {
    return [`${manifest.label}: ${(err as Error).message}`];
  }
}

/** Every field, in every manifest, that its kind's declared type does not have (and any other type error). One compilation for all. */
export function unknownFieldProblems(manifests: readonly Manifest[]): string[] {
  // A module next to node_modules, so that the packages resolve as they do for the tests.
  const file = join(process.cwd(), '__manifests__.ts');
  const source = manifests
    .map((m, i) => {
      const { apiVersion, kind } = typeMeta(m);
      return `export const m${i}: import(${JSON.stringify(modelModule(apiVersion, kind))}).I${kind} = ${JSON.stringify(m.value, null, 1)};\n`;
    })
    .join('');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, version, ...rest) => (name === file ? ts.createSourceFile(name, source, version) : getSourceFile.call(host, name, version, ...rest));
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? source : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  const sourceFile = program.getSourceFile(file)!;
  const lineStarts = manifests.map((_, i) => sourceFile.getLineAndCharacterOfPosition(source.indexOf(`export const m${i}:`)).line);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file === undefined || d.start === undefined ? -1 : d.file.getLineAndCharacterOfPosition(d.start).line;
    const index = lineStarts.findLastIndex((start) => start <= line);
    const where = d.file?.fileName === file && index >= 0 ? manifests[index]!.label : (d.file?.fileName ?? 'compiler');
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}
