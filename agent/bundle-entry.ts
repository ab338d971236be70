// The root of the agent's own bundle (dist/agent.bundle, see cli/agent-loader.ts): its exports are
// what the multi-call binary gets when it evaluates the bundle.
module.exports = require("./main");
