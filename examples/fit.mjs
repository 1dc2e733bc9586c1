import { fit } from 'ringtrain';

const { epoch, history, summary } = await fit({
  job: 'regression-mlp', // a built-in job; or './my-job.js', a Job object, or { model, data, loss }
  workers: 2, // worker processes started on this machine
  epochs: 4,
  batchSize: 64,
  earlyStopPatience: 2, // stop once val_loss has not improved for 2 epochs
  callbacks: {
    onEpochEnd: (e, logs) => console.log(`epoch ${e}: loss ${logs.loss.toFixed(4)}, val_loss ${logs.val_loss.toFixed(4)}`),
  },
});
console.log(`${epoch.length} epochs, ${summary.steps} steps on ${summary.workers} workers; best val_loss ${Math.min(...history.val_loss).toFixed(4)}; model in ${summary.output}`);
