// `tabtune push`: uploads a trained model folder to the Hub as the package `tabtune export` writes
// (src/lib/export/package.ts; the card then names the repo), with one progress bar over the
// bytes and a commit message that summarises the run. The token comes from HF_TOKEN only (never a
// flag, so it stays out of shell history). Not the upload protocol (src/lib/export/hub-push.ts).

import { parseArgs } from 'node:util';
import { describeInt8, commitMessage, pushToHub } from '../lib/export/hub-push.ts';
import { modelPackage } from '../lib/export/package.ts';
import type { CliIo } from './embed.ts';
import { UsageError } from './errors.ts';
import { exportForm, int8Evaluation, readFolder } from './export.ts';
import { ProgressBar } from './progress-bar.ts';
import { resolveHubFlag } from './sources.ts';

export const PUSH_HELP = `Usage: tabtune push --model DIR --repo OWNER/NAME [--private] [--update] [--onnx] [--quantize] [--adapter] [--hub URL]   (token: HF_TOKEN)

Uploads a trained model folder (tabtune train --output DIR) to the Hugging Face Hub in one
commit: the files tabtune export writes (model, card naming the repo, eval_results.json,
run_config.json), with --onnx/--quantize the ONNX models for transformers.js. The repo is
created (public unless --private); an existing repo is refused unless --update.

  --model DIR        the trained model folder
  --repo OWNER/NAME  the model repo to create (or update)
  --private          create it private
  --update           add a commit to the repo when it exists already
  --onnx, --quantize as in tabtune export (--quantize evaluates the int8 model on the run's
                     test split for the card)
  --adapter          a LoRA run as its PEFT adapter, as in tabtune export (default: merged)
  --backend KIND     engine for that evaluation: node (default) or wasm
  --hub URL          the Hub (default: $TABTUNE_HUB_URL or https://huggingface.co)

The access token (role "write") is read from HF_TOKEN.`;

export async function pushCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, repo: { type: 'string' }, private: { type: 'boolean' }, update: { type: 'boolean' }, onnx: { type: 'boolean' },
      quantize: { type: 'boolean' }, adapter: { type: 'boolean' }, backend: { type: 'string', default: 'node' }, hub: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout.write(PUSH_HELP + '\n');
    return 0;
  }
  if (!values.model) throw new UsageError('missing --model DIR', 'push');
  if (!values.repo) throw new UsageError('missing --repo OWNER/NAME', 'push');
  const token = process.env.HF_TOKEN;
  if (!token) throw new UsageError('no access token: set HF_TOKEN (a token with the "write" role from huggingface.co/settings/tokens)', 'push');
  const hubUrl = resolveHubFlag(values.hub, process.env, 'push');
  const { files, record } = await readFolder(values.model);
  const form = exportForm(values, files, 'push');
  const int8 = values.quantize ? await int8Evaluation(files, record, { hub: values.hub, backend: values.backend, stderr: io.stderr }) : null;
  const pkg = await modelPackage(files, record, { onnx: values.onnx, quantize: values.quantize, repoId: values.repo, int8, form });
  let bar: ProgressBar | null = null;
  const r = await pushToHub({
    hubUrl, repo: values.repo, token, private: values.private, update: values.update, files: pkg,
    message: record ? commitMessage(record) : `tabtune: upload ${values.repo}`,
    description: describeInt8(int8),
    onProgress: (p) => {
      if (p.phase === 'checking' || p.phase === 'creating') return;
      bar ??= new ProgressBar({ label: `push ${values.repo}`, unit: 'B', total: p.totalBytes, stream: io.stderr });
      bar.update(p.doneBytes);
    },
  });
  (bar as ProgressBar | null)?.finish();
  io.stderr.write(`${r.created ? 'created' : 'updated'} ${r.repoUrl} as ${r.user}${r.commitUrl ? `; commit ${r.commitUrl}` : ''}\n`);
  io.stdout.write(`${r.repoUrl}\n`);
  return 0;
}
