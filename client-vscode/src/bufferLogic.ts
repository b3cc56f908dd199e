/**
 * Which editor buffers the server hears about: only those with unsaved changes.
 *
 * The server needs buffer text for one thing: refusing to write a file whose editor holds
 * unsaved changes. Mirroring every open file instead (the usual LSP document sync) has a race:
 * after the server edits a file, the editor reloads it a moment later, and until that reload
 * reaches the server its stale copy looks like unsaved changes, so the executor's next edit of
 * the same file is refused. A clean buffer is the disk, so it is never sent; a buffer is
 * "opened" on the server when it becomes dirty and "closed" when saved, reverted or closed.
 * It also keeps file contents the user did not change out of the server process.
 */

import { isPlanDocument } from './planDocumentLogic';

/**
 * Whether DirtyBufferSync follows a document: a file of the folder, except the plan document,
 * which the language client syncs itself (planDocumentLogic.ts).
 */
export function dirtySyncScope(scheme: string, folderPath: string, docPath: string): boolean {
  return scheme === 'file' && docPath.startsWith(`${folderPath.replace(/\/$/, '')}/`) && !isPlanDocument(docPath);
}

export type BufferAction = 'open' | 'change' | 'close' | 'none';

export function bufferAction(
  known: boolean,
  event: 'changed' | 'saved' | 'closed',
  isDirty: boolean,
): BufferAction {
  if (event === 'closed' || event === 'saved') return known ? 'close' : 'none';
  if (isDirty) return known ? 'change' : 'open';
  return known ? 'close' : 'none';
}
