/** Does nothing (run compiled, like the workers): its peak RSS is the floor under every Node worker in the bench. */
const keepAlive: number = 60_000;
setInterval(() => undefined, keepAlive);
console.log('ready');
