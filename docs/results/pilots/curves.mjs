// usage: node pilot-results/curves.mjs <results.db>...  prints each run's eval curve and final evaluations
import Database from 'better-sqlite3';
for (const path of process.argv.slice(2)) {
  const db = new Database(path, { readonly: true });
  for (const run of db.prepare('SELECT * FROM runs').all()) {
    console.log(`\n## ${run.id} (${run.model_label} / ${run.task} / seed ${run.seed}) status ${run.status}, ${run.sequences} sequences`);
    const evals = db.prepare('SELECT * FROM evaluations WHERE run_id = ?').all(run.id);
    const train = evals.find((e) => e.set_name === 'train');
    const optimal = train?.scores ? JSON.parse(train.scores).optimalBitsPerSequence : undefined;
    const rows = db.prepare("SELECT * FROM curve WHERE run_id = ? AND kind = 'eval' ORDER BY step").all(run.id);
    console.log('sequences | wall s | bits/seq | bit errors/seq' + (optimal ? ' | gap to optimal' : ''));
    for (const r of rows)
      console.log(`${r.sequences} | ${(r.wall_ms / 1000).toFixed(0)} | ${r.bits.toFixed(2)} | ${r.bit_errors?.toFixed(2)}` + (optimal ? ` | ${(100 * (r.bits / optimal - 1)).toFixed(1)} %` : ''));
    for (const e of evals) console.log(`final ${e.set_name}: bits ${e.bits.toFixed(2)}, bit errors ${e.bit_errors.toFixed(2)}, accuracy ${e.accuracy.toFixed(3)} ${e.scores ?? ''}`);
  }
}
