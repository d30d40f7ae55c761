#!/usr/bin/env node
import { createApp } from '../lib/app';
import { ConfigError } from '../lib/config';

try {
  createApp();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
