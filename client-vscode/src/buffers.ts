/**
 * Sends the server the text of unsaved editor buffers (and only those): see bufferLogic.ts
 * for why. Uses the standard didOpen/didChange/didClose notifications (full text), so the
 * server's usual document handling applies; the client's automatic sync is switched off.
 */

import * as vscode from 'vscode';
import {
  DidChangeTextDocumentNotification,
  DidCloseTextDocumentNotification,
  DidOpenTextDocumentNotification,
  type LanguageClient,
} from 'vscode-languageclient/node';
import { type BufferAction, bufferAction, dirtySyncScope } from './bufferLogic';

export class DirtyBufferSync implements vscode.Disposable {
  private readonly known = new Set<string>();
  private client: LanguageClient | undefined;
  private readonly subs: vscode.Disposable[];

  constructor(
    private readonly folder: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.subs = [
      vscode.workspace.onDidChangeTextDocument((e) => this.on(e.document, 'changed')),
      vscode.workspace.onDidSaveTextDocument((d) => this.on(d, 'saved')),
      vscode.workspace.onDidCloseTextDocument((d) => this.on(d, 'closed')),
    ];
  }

  private inScope(doc: vscode.TextDocument): boolean {
    return dirtySyncScope(doc.uri.scheme, this.folder.path, doc.uri.path);
  }

  /** A (re)started server knows nothing yet: tell it about every dirty buffer now. */
  attach(client: LanguageClient): void {
    this.client = client;
    this.known.clear();
    for (const doc of vscode.workspace.textDocuments) {
      if (this.inScope(doc) && doc.isDirty) this.apply(doc, 'open');
    }
  }

  detach(): void {
    this.client = undefined;
    this.known.clear();
  }

  private on(doc: vscode.TextDocument, event: 'changed' | 'saved' | 'closed'): void {
    if (!this.client || !this.inScope(doc)) return;
    this.apply(doc, bufferAction(this.known.has(doc.uri.toString()), event, doc.isDirty));
  }

  private apply(doc: vscode.TextDocument, action: BufferAction): void {
    const c = this.client;
    if (!c || action === 'none') return;
    const uri = doc.uri.toString();
    const send = (p: Promise<void>) => p.catch((e: Error) => this.log.warn(`buffer sync (${action}): ${e.message}`));
    if (action === 'open') {
      this.known.add(uri);
      void send(
        c.sendNotification(DidOpenTextDocumentNotification.type, {
          textDocument: { uri, languageId: doc.languageId, version: doc.version, text: doc.getText() },
        }),
      );
    } else if (action === 'change') {
      void send(
        c.sendNotification(DidChangeTextDocumentNotification.type, {
          textDocument: { uri, version: doc.version },
          contentChanges: [{ text: doc.getText() }],
        }),
      );
    } else {
      this.known.delete(uri);
      void send(c.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri } }));
    }
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}
