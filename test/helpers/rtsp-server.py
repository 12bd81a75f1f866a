#!/usr/bin/python3
# A loopback RTSP server for the camera tests (started by rtsp-server.ts): GStreamer's RTSP server
# serving rtsp://127.0.0.1:PORT/test as H.264, like an IP camera (TCP-interleaved works).
#
# Source, one of:
#   --pattern              videotestsrc (moving test pattern)
#   --image PATH           a still photo, repeated as a live stream (imagefreeze)
#   --image A --image B    a slideshow: each photo for --seconds, in order, looping
# Every picture is letterboxed into --width x --height (videoscale keeps the aspect ratio with black
# borders), so a slideshow of photos of different sizes keeps one set of caps.
#
# Run with Debian's /usr/bin/python3 (python3-gi, gir1.2-gst-rtsp-server-1.0, TOOLING.md).
import argparse
import os
import sys

import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

# zerolatency: no lookahead or B-frames, so a frame leaves the encoder at once; key-int-max=10:
# a client that joins mid-stream decodes within 10 frames; config-interval=1: SPS/PPS with every
# key frame, for the same reason.
ENCODE = (
    'videoconvert ! video/x-raw,format=I420 ! '
    'x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! '
    'rtph264pay name=pay0 pt=96 config-interval=1'
)


def parse_args():
    parser = argparse.ArgumentParser(description='Loopback RTSP test server')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--pattern', action='store_true', help='serve videotestsrc')
    parser.add_argument('--image', action='append', default=[], help='a still photo (repeat for a slideshow)')
    parser.add_argument('--seconds', type=float, default=3.0, help='slideshow: seconds per photo')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--fps', type=int, default=15)
    args = parser.parse_args()
    if args.pattern == bool(args.image):
        parser.error('give exactly one of --pattern or --image')
    for image in args.image:
        if not os.path.isfile(image):
            parser.error(f'no such image: {image}')
    if args.width % 2 or args.height % 2:
        parser.error('--width and --height must be even (I420)')
    if args.seconds <= 0:
        parser.error('--seconds must be positive')
    return args


class Factory(GstRtspServer.RTSPMediaFactory):
    """Builds the pipeline in code so photo paths need no quoting in a launch string."""

    def __init__(self, args):
        super().__init__()
        self.args = args
        self.raw_caps = f'video/x-raw,format=I420,width={args.width},height={args.height},pixel-aspect-ratio=1/1'
        self.rate_caps = f'video/x-raw,framerate={args.fps}/1'

    def still(self, index):
        return (
            f'filesrc name=src{index} ! decodebin ! videoconvert ! videoscale ! {self.raw_caps} ! '
            f'imagefreeze is-live=true ! {self.rate_caps}'
        )

    def do_create_element(self, _url):
        images = self.args.image
        if self.args.pattern:
            launch = f'videotestsrc is-live=true pattern=ball ! {self.raw_caps},framerate={self.args.fps}/1 ! {ENCODE}'
        elif len(images) == 1:
            launch = f'{self.still(0)} ! {ENCODE}'
        else:
            branches = ' '.join(f'{self.still(i)} ! sel.sink_{i}' for i in range(len(images)))
            launch = f'input-selector name=sel sync-mode=clock ! {ENCODE} {branches}'
        bin_ = Gst.parse_launch(f'( {launch} )')
        for index, image in enumerate(images):
            bin_.get_by_name(f'src{index}').set_property('location', image)
        return bin_


def on_media_configure(_factory, media, args):
    """Slideshow: switch the selector to the next photo every --seconds while the media lives."""
    if len(args.image) < 2:
        return
    selector = media.get_element().get_by_name('sel')
    state = {'index': 0}

    def next_slide():
        if media.get_status() in (GstRtspServer.RTSPMediaStatus.UNPREPARED, GstRtspServer.RTSPMediaStatus.ERROR):
            return False
        state['index'] = (state['index'] + 1) % len(args.image)
        selector.set_property('active-pad', selector.get_static_pad(f'sink_{state["index"]}'))
        print(f'rtsp-server: slide {state["index"]}: {args.image[state["index"]]}', flush=True)
        return True

    GLib.timeout_add(int(args.seconds * 1000), next_slide)


def main():
    args = parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address('127.0.0.1')
    server.set_service(str(args.port))
    factory = Factory(args)
    # One pipeline for every client, like a camera: a second client joins the running stream.
    factory.set_shared(True)
    factory.connect('media-configure', on_media_configure, args)
    server.get_mount_points().add_factory('/test', factory)
    if server.attach(None) == 0:
        print(f'rtsp-server: could not bind 127.0.0.1:{args.port} (address in use?)', file=sys.stderr, flush=True)
        sys.exit(1)
    print(f'rtsp-server: serving rtsp://127.0.0.1:{args.port}/test', flush=True)
    GLib.MainLoop().run()


if __name__ == '__main__':
    main()
