"""The development stack and the CLI: what runs on a developer's machine, never in Lambda.

Kept outside chalicelib/ because Chalice packages all of chalicelib/ into the Lambda zip;
Lambda code must not import from here.
"""
