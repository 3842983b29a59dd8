import { drSuite } from '../support/dr-suite.js';

drSuite('systemd', { full: true });
