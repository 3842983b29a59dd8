import { faultMatrix } from '../support/fault-matrix.js';

faultMatrix('3.5');
