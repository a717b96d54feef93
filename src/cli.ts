#!/usr/bin/env node
/** The freehint command line. Until the strategy comparison lands it runs a balloon demo. */
import { runBalloonDemo } from './sim/balloon-demo.js';

for (const line of runBalloonDemo()) console.log(line);
