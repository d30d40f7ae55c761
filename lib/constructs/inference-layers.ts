import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AssetHashType, DockerImage, type ILocalBundling } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { buildModelsLayer, MANIFEST_FILE } from '../../layers/models-layer';
import { buildOnnxRuntimeLayer, LAYER_PLATFORMS, onnxRuntimeVersion } from '../../layers/onnxruntime-layer';
import { pascal } from './inference-bus';

export interface InferenceLayersProps {
  /** The tasks to ship models for: each task's folder holds `manifest.json` and the ONNX files it lists. */
  readonly tasks: readonly { readonly id: string; readonly taskDir: string }[];
  /** Folder holding the layer build scripts (the asset source; bundling is local). */
  readonly layersDir: string;
}

/**
 * The layers of the inference functions: onnxruntime-node (Linux x64 + arm64 binaries), shared by
 * all, and one models layer per task (its manifest and model files), so a function carries only
 * its own task's models. All are built by local bundling in this process, so synth never needs
 * Docker; the Docker image named below is never pulled.
 */
export class InferenceLayers extends Construct {
  public readonly onnxRuntime: lambda.LayerVersion;
  private readonly modelLayers = new Map<string, lambda.LayerVersion>();

  constructor(scope: Construct, id: string, props: InferenceLayersProps) {
    super(scope, id);
    const neverPulled = DockerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest');
    const ortVersion = onnxRuntimeVersion();
    const platforms = LAYER_PLATFORMS.map((p) => `${p.os}-${p.arch}`).join(',');

    this.onnxRuntime = new lambda.LayerVersion(this, 'OnnxRuntime', {
      description: `onnxruntime-node ${ortVersion} (${platforms})`,
      compatibleRuntimes: [lambda.Runtime.NODEJS_22_X],
      compatibleArchitectures: [lambda.Architecture.ARM_64, lambda.Architecture.X86_64],
      code: lambda.Code.fromAsset(props.layersDir, {
        assetHashType: AssetHashType.CUSTOM,
        assetHash: `onnxruntime-node@${ortVersion}:${platforms}:v1`,
        bundling: {
          image: neverPulled,
          local: localBundling(buildOnnxRuntimeLayer),
        },
      }),
    });

    for (const task of props.tasks) {
      const manifestDigest = createHash('sha256')
        .update(readFileSync(join(task.taskDir, MANIFEST_FILE)))
        .digest('hex');
      const layer = new lambda.LayerVersion(this, `Models${pascal(task.id)}`, {
        description: `inferbus models of task ${task.id}, manifest sha256 ${manifestDigest.slice(0, 12)}`,
        compatibleRuntimes: [lambda.Runtime.NODEJS_22_X],
        compatibleArchitectures: [lambda.Architecture.ARM_64, lambda.Architecture.X86_64],
        code: lambda.Code.fromAsset(props.layersDir, {
          // The manifest records every model file's sha256, so its digest identifies the layer.
          assetHashType: AssetHashType.CUSTOM,
          assetHash: `models:${task.id}:${manifestDigest}`,
          bundling: {
            image: neverPulled,
            local: localBundling((outputDir) => buildModelsLayer(task.taskDir, task.id, outputDir)),
          },
        }),
      });
      this.modelLayers.set(task.id, layer);
    }
  }

  /** The models layer of `task` (`/opt/models/<task>/`). */
  modelsOf(task: string): lambda.LayerVersion {
    const layer = this.modelLayers.get(task);
    if (!layer) throw new Error(`InferenceLayers: no models layer for task ${task}; list it in props.tasks`);
    return layer;
  }
}

/** Bundling done by a function in this process; returning true tells CDK not to use Docker. */
function localBundling(build: (outputDir: string) => void): ILocalBundling {
  return {
    tryBundle(outputDir) {
      build(outputDir);
      return true;
    },
  };
}
