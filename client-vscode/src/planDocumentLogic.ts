/**
 * The plan as an editable document: `<folder>/.planloop/plan.md`, served by the language
 * server (diagnostics while typing, code lenses, hover; saving makes a new plan version).
 *
 * Unlike other files, the language client syncs this document itself (open, every change,
 * save, close): the server checks every keystroke against the current plan version, so it
 * needs the text of a clean buffer too. It is left out of DirtyBufferSync for that reason, so
 * the server never hears of it twice. No `vscode` import: unit tested under node.
 */

/** Where the core writes the current plan version's Markdown, relative to the folder. */
export const PLAN_DOCUMENT = '.planloop/plan.md';

/** The language client's document selector: the plan documents, whatever their language id. */
export const PLAN_DOCUMENT_SELECTOR = [{ scheme: 'file', pattern: `**/${PLAN_DOCUMENT}` }];

function trimSlash(p: string): string {
  return p.replace(/\\/g, '/').replace(/\/+$/, '');
}

/** True when `docPath` (a URI path or fs path) is a plan document the client syncs itself. */
export function isPlanDocument(docPath: string): boolean {
  return trimSlash(docPath).endsWith(`/${PLAN_DOCUMENT}`);
}

/** True when `docPath` is the plan document of the folder at `folderPath`. */
export function isFolderPlanDocument(folderPath: string, docPath: string): boolean {
  return trimSlash(docPath) === `${trimSlash(folderPath)}/${PLAN_DOCUMENT}`;
}

/**
 * The extension command a server code lens runs instead of the server's own: the tree's
 * commands (busy flag, confirmation before a revert, the diff editor, the outcome message),
 * called with the lens's `{stepId}` argument. Undefined: leave the lens as the server sent it.
 */
export function lensCommand(serverCommand: string): string | undefined {
  switch (serverCommand) {
    case 'planloop.runStep':
      return 'planloop.ui.runStep';
    case 'planloop.stepDiff':
      return 'planloop.ui.showStepChanges';
    case 'planloop.revertStep':
      return 'planloop.ui.revertStep';
    default:
      return undefined;
  }
}

/** Why Edit Plan cannot open the document, or undefined when it can. */
export function editPlanProblem(hasFolder: boolean, hasPlan: boolean, fileExists: boolean): string | undefined {
  if (!hasFolder) return 'planloop works on a folder: open one first (File → Open Folder…).';
  if (!hasPlan) return 'There is no plan to edit yet: start with New Plan.';
  if (!fileExists) {
    return `${PLAN_DOCUMENT} is missing: it is written with every plan version. Restart the server (or run \`planloop show\`), then try again.`;
  }
  return undefined;
}
