/** The oldest Node.js major dbbridge runs on (`Promise.withResolvers`, `JSON.rawJSON`, `util.parseEnv`). */
export const MIN_NODE_MAJOR = 22;

/** Throws one clear error on a Node.js older than `MIN_NODE_MAJOR`. */
export function assertNodeVersion(version: string = process.versions.node): void {
  const major = Number(version.split('.')[0]);
  if (!(major >= MIN_NODE_MAJOR)) {
    throw new Error(
      `dbbridge needs Node.js ${MIN_NODE_MAJOR} or newer (this is ${version}). In the dbbridge repository, npm scripts run on the Node 24 from devDependencies (node_modules/.bin/node).`,
    );
  }
}
