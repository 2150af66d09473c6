"""Background jobs: the stored job and its life (model, lifecycle, store), the use cases (service,
manager, rate limit), the worker that runs them from SQS (worker, attempt), and the handlers
(base, registry, builtin/)."""
