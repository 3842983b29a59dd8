import { faultMatrix } from '../support/fault-matrix.js';

// etcd 3.5 as units of the lab's systemctl (Type=notify, Restart=always, TimeoutStartSec); with
// faults.test.ts (3.4, static pods) the matrix covers both styles and both etcd lines
faultMatrix('3.5', 'systemd');
