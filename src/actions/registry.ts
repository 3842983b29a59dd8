import type { Action } from './action.js';
import { fileFetch, fileMkdir, fileMove, fileUpload, fileWrite } from './file.js';
import { assertAction, confirmAction, messageAction } from './local.js';
import { commandAction, shellAction } from './shell.js';
import { waitAction } from './wait.js';
import { apiserverStart, apiserverStop, apiserverWaitReady, etcdStart, etcdStop } from './component.js';
import { etcdKeyCount, etcdMemberAdd, etcdMemberRemove, etcdSetFlags, etcdSnapshotRestore, etcdSnapshotSave, etcdSnapshotStatus, etcdStatus, etcdWaitHealthy, etcdRejoin, etcdRehearseRestore, etcdCheckRevision } from './etcd.js';
import { etcdTools } from './etcd-tools.js';
import { etcdPlaceRestore, etcdStageRestore } from './etcd-staged-restore.js';
import { componentsRestart } from './component.js';
import { s3Download, s3Provenance, s3Prune, s3Upload, s3Verify } from './s3.js';

// Each action narrows its own argument type; the registry only needs the common shape.
type AnyAction = Action<never>;

const ACTIONS: AnyAction[] = [shellAction, commandAction, fileMove, fileWrite, fileUpload, fileFetch, fileMkdir, waitAction, assertAction, confirmAction, messageAction,
  etcdStatus, etcdWaitHealthy, etcdKeyCount, etcdSnapshotSave, etcdSnapshotStatus, etcdSnapshotRestore, etcdStageRestore, etcdPlaceRestore, etcdMemberRemove, etcdMemberAdd, etcdSetFlags, etcdRejoin, etcdRehearseRestore, etcdCheckRevision, etcdTools, componentsRestart,
  etcdStop, etcdStart, apiserverStop, apiserverStart, apiserverWaitReady, s3Upload, s3Download, s3Prune, s3Verify, s3Provenance];

const byName = new Map<string, AnyAction>(ACTIONS.map((a) => [a.name, a]));

export function findAction(name: string): Action | undefined {
  return byName.get(name) as Action | undefined;
}

export function actionNames(): string[] {
  return [...byName.keys()];
}
