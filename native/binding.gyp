{
  "targets": [
    {
      "target_name": "lifeline_fs",
      "sources": ["lifeline_fs.c"],
      "cflags": ["-O2", "-Wall"]
    },
    {
      "target_name": "lifeline_crc32c",
      "sources": ["crc32c.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
