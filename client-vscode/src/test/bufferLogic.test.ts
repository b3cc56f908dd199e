// Only unsaved buffers reach the server (see bufferLogic.ts for the race this avoids).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bufferAction } from '../bufferLogic';

test('a buffer becomes known to the server when it gets unsaved changes', () => {
  assert.equal(bufferAction(false, 'changed', true), 'open');
  assert.equal(bufferAction(true, 'changed', true), 'change');
});

test('a clean buffer is the disk: never sent, and forgotten once clean again', () => {
  assert.equal(bufferAction(false, 'changed', false), 'none', 'a reload from disk after the server edited the file');
  assert.equal(bufferAction(true, 'changed', false), 'close', 'undo back to the saved text, or File: Revert');
  assert.equal(bufferAction(true, 'saved', false), 'close');
  assert.equal(bufferAction(false, 'saved', false), 'none');
});

test('closing an editor with unsaved changes forgets it', () => {
  assert.equal(bufferAction(true, 'closed', true), 'close');
  assert.equal(bufferAction(false, 'closed', true), 'none');
});
