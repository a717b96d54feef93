/**
 * Stands in for the Node modules v86's build reaches for when it runs under Node (fs, crypto,
 * perf_hooks). In a browser those branches never run; this keeps the bundler from shimming them.
 */
export default {};
