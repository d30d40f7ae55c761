#!/usr/bin/env node
import { ConfigError } from '../lib/config';
import { createApp } from '../lib/app';

try {
  createApp();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
