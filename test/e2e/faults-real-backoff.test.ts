import { faultMatrix } from '../support/fault-matrix.js';

// the kubelet's real crash back-off (10 s, doubling to 300 s) instead of the lab's short one: a member
// killed mid-rejoin is started again only after 10 s, and the rejoin's waits must outlast that
faultMatrix('3.4', 'static-pod', { kubeletBackoff: 'real', only: ['8'] });
