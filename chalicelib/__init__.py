"""tickwork: a serverless job scheduler and background-job system on Chalice, DynamoDB and SQS."""
