import { drSuite } from '../support/dr-suite.js';

// etcd 3.5 from a binary install; the second master's PATH has no etcd tools (only the unit names the binary)
drSuite('systemd', { full: true, version: '3.5', noTools: [1] });
