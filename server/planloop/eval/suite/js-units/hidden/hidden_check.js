const c = require('./conv');
const near = (a, b) => Math.abs(a - b) < 1e-6;
if (!(c.cToF(100) === 212 && c.fToC(32) === 0 && near(c.kmToMiles(10), 6.21371))) { console.error('wrong'); process.exit(1); }
