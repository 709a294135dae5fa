// Resolves react and react-dom (and their subpaths) from this folder,
// whoever imports them.
const here = new URL("./package.json", import.meta.url).href;
const fromHere = /^react(-dom)?(\/|$)/;

export async function resolve(specifier, context, nextResolve) {
  if (fromHere.test(specifier)) {
    return nextResolve(specifier, { ...context, parentURL: here });
  }
  return nextResolve(specifier, context);
}
