'use strict';
/**
 * Worker process for the local Lambda runner: plays the part of Lambda's Node.js runtime for one
 * execution environment. Started by `worker.ts` with `child_process.fork` and plain `node` (no tsx,
 * no loaders), with the function's environment. Protocol: see protocol.ts.
 *
 * Why a child process and not a worker thread: a native crash (onnxruntime) in a thread takes the
 * whole local runtime down; here it takes down one execution environment, like in Lambda.
 *
 * CommonJS: Lambda's /var/task and /opt have no package.json above them, so a bundle's `index.js`
 * is CommonJS there. Locally `cdk.out/` sits inside a `"type": "module"` project and Node would
 * load the same file as an ES module. Rather than writing package.json files into the
 * content-addressed asset folders (their bytes are what `cdk deploy` uploads), this process treats
 * the asset and layer folders as package-scope roots: a `.js` file there is compiled as CommonJS
 * unless a package.json *inside* the root decides otherwise, which is exactly Lambda's rule.
 */
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { pathToFileURL } = require('node:url');

let handlerFn;

process.on('disconnect', () => process.exit(0));
// Ctrl-C in a terminal signals the whole process group, this worker included. The runtime that
// forked it decides when it goes (it lets the invocation in flight finish, then kills it), and
// the disconnect above ends it if the runtime itself dies.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.on('message', (message) => {
  if (message.type === 'init') void init(message);
  else if (message.type === 'invoke') void invoke(message);
});

function send(message) {
  if (process.connected) process.send(message);
}

function errorFields(error, fallbackType) {
  if (error instanceof Error) {
    return {
      errorType: error.name && error.name !== 'Error' ? error.name : fallbackType,
      errorMessage: error.message,
      stack: error.stack,
    };
  }
  return { errorType: fallbackType, errorMessage: typeof error === 'string' ? error : safeJson(error) };
}

function safeJson(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function isInside(file, root) {
  const relative = path.relative(root, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

function installLambdaPackageScopes(roots) {
  const scopeCache = new Map();
  const ownedByPackageJson = (dir, root) => {
    const key = `${root}\0${dir}`;
    let owned = scopeCache.get(key);
    if (owned === undefined) {
      owned = fs.existsSync(path.join(dir, 'package.json'));
      if (!owned && dir !== root) owned = ownedByPackageJson(path.dirname(dir), root);
      scopeCache.set(key, owned);
    }
    return owned;
  };
  const loadJs = Module._extensions['.js'];
  Module._extensions['.js'] = function loadLambdaJs(module, filename) {
    const root = roots.find((candidate) => isInside(filename, candidate));
    if (root !== undefined && !ownedByPackageJson(path.dirname(filename), root)) {
      module._compile(fs.readFileSync(filename, 'utf8'), filename);
      return;
    }
    loadJs.call(this, module, filename);
  };
}

function parseHandler(handler) {
  const slash = handler.lastIndexOf('/');
  const base = handler.slice(slash + 1);
  const dot = base.indexOf('.');
  if (dot <= 0 || dot === base.length - 1) {
    throw named(
      'Runtime.MalformedHandlerName',
      `Bad handler "${handler}": expected "file.export", e.g. "index.handler".`,
    );
  }
  return { modulePath: handler.slice(0, slash + 1) + base.slice(0, dot), exportPath: base.slice(dot + 1) };
}

function named(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

async function loadModule(taskRoot, modulePath, handler) {
  const base = path.resolve(taskRoot, modulePath);
  for (const extension of ['.js', '.mjs', '.cjs']) {
    const file = base + extension;
    if (!fs.existsSync(file)) continue;
    if (extension === '.mjs') return import(pathToFileURL(file).href);
    try {
      return require(file);
    } catch (error) {
      // A package.json inside the asset says "type": "module": load it as Lambda would, as ESM.
      if (error && error.code === 'ERR_REQUIRE_ESM') return import(pathToFileURL(file).href);
      throw error;
    }
  }
  throw named(
    'Runtime.ImportModuleError',
    `Cannot find module '${modulePath}' (.js/.mjs/.cjs) in ${taskRoot} for handler "${handler}"; ` +
      'check the Handler property against the asset folder, or re-run `npx cdk synth`.',
  );
}

async function init(message) {
  const started = performance.now();
  try {
    installLambdaPackageScopes(message.lambdaRoots);
    const { modulePath, exportPath } = parseHandler(message.handler);
    const loaded = await loadModule(message.taskRoot, modulePath, message.handler);
    const fn = exportPath.split('.').reduce((value, key) => (value == null ? undefined : value[key]), loaded);
    if (typeof fn !== 'function') {
      throw named('Runtime.HandlerNotFound', `${message.handler} is undefined or not exported`);
    }
    handlerFn = fn;
    send({ type: 'ready', sinceProcessStartMs: performance.now(), loadMs: performance.now() - started });
  } catch (error) {
    send({ type: 'init-error', ...errorFields(error, 'Runtime.UserCodeError') });
  }
}

function makeContext(fields, deadlineMs, finish) {
  return {
    ...fields,
    callbackWaitsForEmptyEventLoop: true,
    identity: undefined,
    clientContext: undefined,
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
    done: (error, result) => finish(error, result),
    succeed: (result) => finish(null, result),
    fail: (error) => finish(error ?? new Error('context.fail() called')),
  };
}

async function invoke(message) {
  let settled = false;
  const finish = (error, result) => {
    if (settled) return;
    settled = true;
    const rssBytes = process.memoryUsage.rss();
    if (error !== null && error !== undefined) {
      send({ type: 'result', id: message.id, ok: false, rssBytes, ...errorFields(error, 'Error') });
      return;
    }
    let payloadJson;
    try {
      payloadJson = JSON.stringify(result === undefined ? null : result);
    } catch (marshal) {
      const reason = marshal instanceof Error ? marshal.message : String(marshal);
      send({
        type: 'result',
        id: message.id,
        ok: false,
        rssBytes,
        errorType: 'Runtime.MarshalError',
        errorMessage: `Unable to stringify response body: ${reason}`,
      });
      return;
    }
    send({ type: 'result', id: message.id, ok: true, rssBytes, payloadJson });
  };
  try {
    // Plain JSON data may come by structured clone (`event`) instead of as JSON text.
    const event = message.eventJson === undefined ? message.event : JSON.parse(message.eventJson);
    const context = makeContext(message.context, message.deadlineMs, finish);
    const returned = handlerFn(event, context, (error, result) => finish(error, result));
    // Async handlers settle through their promise; callback handlers through the callback.
    if (returned && typeof returned.then === 'function') {
      returned.then(
        (result) => finish(null, result),
        (error) => finish(error ?? new Error('Handler rejected with no reason')),
      );
    }
  } catch (error) {
    finish(error);
  }
}
