/**
 * The "HTTP floor": a bare Fastify server whose route only parses the body the way a model server
 * must at least (JSON.parse for application/json, nothing for application/octet-stream) and answers
 * a constant. Run as a child process by bench/run.ts; prints `LISTENING <port>`.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
  try {
    done(null, JSON.parse(body as string));
  } catch (err) {
    done(err as Error, undefined);
  }
});
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

const ANSWER = '[\n  0\n]';
app.post('/predictions/:model', async (_request, reply) => reply.header('content-type', 'application/json').send(ANSWER));

const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`LISTENING ${new URL(address).port}\n`);
process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
