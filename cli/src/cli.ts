#!/usr/bin/env node
/**
 * The freehint command line: compare migration strategies on simulated guests (the default),
 * run a scenario file, sweep a grid of scenarios, compare postcopy variants, or watch a
 * balloon session. Bad input prints one line and exits with code 2 before any work.
 */
import { main } from './main.js';

void main(process.argv.slice(2));
