/** Names a template may read; shared by validation and rendering so the two cannot drift. */

export const ROOT_NAMES = ['host', 'vars', 'run', 'cluster', 'hosts', 'groups', 'playbook', 'members'] as const;

export const HOST_FIELDS = ['name', 'address', 'port', 'user', 'groups', 'vars', 'etcd'] as const;

export const ETCD_FIELDS = [
  'name',
  'client_url',
  'peer_url',
  'data_dir',
  'manifests_dir',
  'manifest',
  'apiserver_manifest',
  'apiserver_url',
  'unit',
  'apiserver_unit',
  'stash_dir',
  'style',
  'cacert',
  'cert',
  'key',
  'etcdctl',
] as const;

export const RUN_FIELDS = ['id', 'dir', 'user', 'started', 'commit'] as const;
