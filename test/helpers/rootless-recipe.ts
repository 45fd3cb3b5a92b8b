// The rootless GitLab recipe of README.md, read from README itself so that
// what the test runs is exactly what users copy: the YAML block after the
// `<!-- rootless-recipe -->` marker. Only the subset the recipe uses is read:
// top-level `variables:` (KEY: value) and, per job, `script:` items
// (`    - command`). Each job's lines run in one `sh -e` in order.
import { readFile } from 'node:fs/promises';

export const RECIPE_MARKER = '<!-- rootless-recipe -->';

export interface Recipe { variables: Record<string, string>; jobs: { name: string; image: string; script: string[] }[] }

/** Parses the recipe block of README text; throws naming what is missing. */
export function parseRecipe(readme: string): Recipe {
  const at = readme.indexOf(RECIPE_MARKER);
  if (at < 0) throw new Error(`README.md has no ${RECIPE_MARKER} marker`);
  const m = /```yaml\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!m) throw new Error(`no \`\`\`yaml block after ${RECIPE_MARKER} in README.md`);
  const recipe: Recipe = { variables: {}, jobs: [] };
  let section: 'variables' | 'job' | undefined;
  let inScript = false;
  for (const line of m[1]!.split('\n')) {
    if (/^\s*(#|$)/.test(line)) continue;
    const top = /^([\w.-]+):\s*$/.exec(line);
    if (top) {
      inScript = false;
      if (top[1] === 'variables') section = 'variables';
      else { section = 'job'; recipe.jobs.push({ name: top[1]!, image: '', script: [] }); }
      continue;
    }
    const job = recipe.jobs.at(-1);
    if (section === 'variables') {
      const kv = /^ {2}(\w+):\s*(.*)$/.exec(line);
      if (!kv) throw new Error(`recipe variables: cannot read ${JSON.stringify(line)}`);
      recipe.variables[kv[1]!] = kv[2]!;
    } else if (section === 'job' && job) {
      const item = /^ {4}- (.*)$/.exec(line);
      if (item && inScript) { job.script.push(item[1]!); continue; }
      const key = /^ {2}([\w-]+):\s*(.*)$/.exec(line);
      if (!key) throw new Error(`recipe job ${job.name}: cannot read ${JSON.stringify(line)}`);
      inScript = key[1] === 'script';
      if (key[1] === 'image') job.image = key[2]!;
    }
  }
  if (recipe.jobs.length === 0 || recipe.jobs.some((j) => j.script.length === 0)) throw new Error('the README recipe has a job without script lines');
  return recipe;
}

export async function readRecipe(readmePath: string): Promise<Recipe> {
  return parseRecipe(await readFile(readmePath, 'utf8'));
}
