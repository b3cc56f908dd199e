function slugify(s) { return s.trim().replace(/\s+/g, '-'); }
module.exports = { slugify };
