import { drSuite } from '../support/dr-suite.js';

// etcd 3.5 as kubeadm runs it: the first master has no etcd tools on its PATH (they live in the image)
drSuite('static-pod', { full: true, version: '3.5', noTools: [0] });
