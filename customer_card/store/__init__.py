"""The only package that speaks SQL: the SQLCipher engine, keys, schema, repositories."""
