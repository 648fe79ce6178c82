{
  "targets": [
    {
      "target_name": "lifeline_fs",
      "sources": ["lifeline_fs.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
