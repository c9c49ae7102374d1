// A stream of the client port's own connection as an AnswerStream, so that a streamed call (Watch)
// runs on it natively: the call's frames go to the connection's output with the turn's answers, and a
// paused call stops consuming what the client sends, so the client's window fills as on Node's.
import type { AnswerStream, AnswerStreamListener } from "../grpc/answer-stream.js";
import { answerHeadersBlock, failBlock, statusTrailers } from "./answer-blocks.js";
import type { WireStream, WireStreamHandler } from "./wire-stream.js";

export class WireAnswerStream implements AnswerStream {
  private listener: AnswerStreamListener | undefined = undefined;
  private responded = false;
  private paused = false;
  /** What the client sent while reading was paused (not yet consumed: its window stays spent). */
  private held: Buffer[] | undefined = undefined;
  private endHeld = false;

  /** What the connection tells the stream's call (a streamed call lives long: a closure each is fine). */
  readonly handler: WireStreamHandler = {
    data: (chunk) => {
      if (this.paused) (this.held ??= []).push(chunk);
      else this.deliver(chunk);
    },
    end: () => {
      if (this.paused) this.endHeld = true;
      else this.listener?.end();
    },
    closed: () => this.listener?.closed(),
    drained: () => this.listener?.drained(),
  };

  constructor(
    private readonly stream: WireStream,
    readonly connection: string,
  ) {}

  get closed(): boolean {
    return this.stream.done || this.stream.localEnded;
  }

  listen(listener: AnswerStreamListener): void {
    this.listener = listener;
  }

  respond(): void {
    if (this.responded) return;
    this.responded = true;
    this.stream.respond(answerHeadersBlock, false);
  }

  /** The frames are copied into the connection's output (or the stream's queue) before this returns. */
  readonly copiesWrites = true;

  write(frames: Buffer): boolean {
    return this.stream.sendData(frames, false, true);
  }

  writePart(frames: Buffer, start: number, end: number): boolean {
    return this.stream.sendDataCopy(frames, start, end);
  }

  pauseReading(): void {
    this.paused = true;
  }

  resumeReading(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) for (const chunk of held) this.deliver(chunk);
    if (this.endHeld) {
      this.endHeld = false;
      this.listener?.end();
    }
  }

  finish(code: number, message: string): void {
    if (!this.responded) {
      this.responded = true;
      this.stream.respond(failBlock(code, message), true);
      return;
    }
    this.stream.sendTrailers(statusTrailers(code, message));
  }

  private deliver(chunk: Buffer): void {
    this.listener?.data(chunk);
    this.stream.consumed(chunk.length);
  }
}
