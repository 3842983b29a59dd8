/**
 * A restore in two parts, so that the outage holds only a rename: `etcd.stage_restore` restores the snapshot
 * while etcd still runs, into DATA_DIR/.restore-RUN_ID (the data dir's own filesystem: a data dir that is a
 * mount point works, and a full disk shows up before anything is stopped); `etcd.place_restore`, once etcd is
 * stopped and the old member dir moved aside, renames the staged member dir into place.
 */
import { type Action, checkPath, ok, refuse, stagedDir } from './action.js';
import { sh } from '../shell/build.js';
import { bumpNote, type RestoreArgs, restoreCommand, restoreInputs } from './etcd.js';

export const etcdStageRestore: Action<RestoreArgs> = {
  name: 'etcd.stage_restore',
  changes: 'always',
  shellArgs: [],
  versioned: true,
  plan(args, ctx) {
    const inputs = restoreInputs(args, ctx);
    if (typeof inputs === 'string') return refuse(inputs);
    const { dataDir, bump } = inputs;
    const stage = stagedDir(ctx, dataDir);
    // written under another name and renamed when whole: a staged dir that exists is complete
    const scratch = `${stage}.partial`;
    const restore = restoreCommand(ctx.host, ctx.etcd, { ...args, initialCluster: inputs.initialCluster, dataDir: scratch }, bump);
    return ok({
      commands: [
        { kind: 'exec', cmd: sh`mkdir -p -m 700 ${dataDir} && rm -rf -- ${scratch} ${stage}` },
        // 3.4 refuses an existing --data-dir, even an empty one; on failure remove only the scratch dir
        { kind: 'exec', cmd: sh`${restore} || { rc=$?; rm -rf -- ${scratch}; exit $rc; }` },
        // owned like the data dir (an etcd that runs as its own user must open it), then complete
        { kind: 'exec', cmd: sh`chown -R --reference=${dataDir} -- ${scratch} && mv -T -- ${scratch} ${stage}` },
      ],
      // a staged copy made by this run from the snapshot, never anyone's data: removed on the way back
      undo: [{ kind: 'exec', cmd: sh`rm -rf -- ${scratch} ${stage}` }],
      partialUndo: [[], [{ kind: 'exec', cmd: sh`rm -rf -- ${scratch}` }], [{ kind: 'exec', cmd: sh`rm -rf -- ${scratch}` }]],
      changes: true,
      note: bumpNote(ctx.etcd, bump),
      probe: {
        cmd: sh`if [ -e ${stage} ]; then echo done; elif [ -e ${scratch} ]; then echo partial; else echo not-started; fi`,
        cleanup: [{ kind: 'exec', cmd: sh`rm -rf -- ${scratch}` }],
      },
    });
  },
};

export const etcdPlaceRestore: Action<{ data_dir?: string }> = {
  name: 'etcd.place_restore',
  changes: 'always',
  shellArgs: [],
  plan(args, ctx) {
    const dataDir = args.data_dir ?? ctx.host.etcd.dataDir;
    const bad = checkPath(dataDir, 'data_dir');
    if (bad) return refuse(bad);
    const stage = stagedDir(ctx, dataDir);
    const member = `${dataDir}/member`;
    const rolledBack = `${dataDir}/.rolled-back-${ctx.runId}`;
    return ok({
      commands: [
        {
          kind: 'exec',
          cmd: sh`if [ -e ${member} ]; then echo ${`refusing to restore: ${member} exists (move it aside first)`} >&2; exit 17; fi; if [ ! -d ${`${stage}/member`} ]; then echo ${`no restore staged by this run at ${stage} (etcd.stage_restore)`} >&2; exit 1; fi; mv -T -- ${`${stage}/member`} ${member} && rmdir -- ${stage}`,
        },
      ],
      // never delete: the restored member dir is moved aside inside the data dir
      undo: [{ kind: 'exec', cmd: sh`if [ -e ${member} ]; then mkdir -p ${rolledBack} && mv -T -- ${member} ${`${rolledBack}/member`}; fi` }],
      changes: true,
      // one rename: the member dir there means done
      probe: { cmd: sh`if [ -e ${member} ]; then echo done; else echo not-started; fi`, cleanup: [] },
    });
  },
};
