"""The AWS adapters shared by jobs and crons: DynamoDB helpers, SQS queues, secrets, provisioning."""
