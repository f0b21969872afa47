// Prints the one closing line CI reads: "N passed, N failed" (plus skipped when any).
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const store = process.env.TEST_MONGODB_KIND ? ` (store: ${process.env.TEST_MONGODB_KIND})` : '';
    process.stdout.write(`\nTests ran against${store}\n`);
    process.stdout.write(`${results.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
