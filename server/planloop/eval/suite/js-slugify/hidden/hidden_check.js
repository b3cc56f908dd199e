const { slugify } = require('./slug');
if (slugify(' Hello World ') !== 'hello-world') { console.error('bad slug'); process.exit(1); }
