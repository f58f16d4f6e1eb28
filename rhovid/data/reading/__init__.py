"""TFDS datasets -> batches of clips (online, every step).

`sources` is what a task calls; it picks the generated `synthetic` source or the tf.data streams
(`streams`) over prepared records (`tfrecords`: find, slice per host, read, skip broken records),
decoding only the sampled frames into their crop windows (`frames`), with `sampling` (which frames)
and `augment` (crops, flips, colour on the host) or `device_augment` (colour inside the jitted step,
and with `data.crop_on_device` the crop, resize and flip too).
"""
