module.exports = {  };
