import { afterAll } from 'vitest';
import { brokerConformance } from '../conformance/broker.suite.js';
import { AmqpTestBrokers } from '../helpers/amqp.js';

const brokers = new AmqpTestBrokers();
afterAll(() => brokers.cleanup());

// Priority queues by default here, so the suite's priority case runs (Celery's task_queue_max_priority).
brokerConformance('amqp', (transportOptions, logger) => brokers.make({ queueMaxPriority: 9, ...transportOptions }, logger));
