export default async function globalTeardown() {
  await globalThis.__TEST_MONGO_STORE__?.stop();
}
