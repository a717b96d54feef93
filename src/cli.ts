#!/usr/bin/env node
/** The freehint command line. Until the strategy comparison lands it runs a short device demo. */
import { runDeviceDemo } from './sim/device-demo.js';

for (const line of runDeviceDemo()) console.log(line);
