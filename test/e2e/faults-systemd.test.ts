import { faultMatrix } from '../support/fault-matrix.js';

// etcd and the apiservers as units of the lab's systemctl (Type=notify, Restart=always, TimeoutStartSec)
faultMatrix('3.4', 'systemd');
