import { drSuite } from '../support/dr-suite.js';

drSuite('static-pod', { full: true });
