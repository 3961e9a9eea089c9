"""Decode speed of network shapes at the widths rate control picks (issue 13's balance table):
files of random levels in each shape (speed does not depend on the fit), decoded with
Decoder.render, best of three alternating rounds.

    python benchmarks/shape_speed.py 0.1      # bpp whose widths (for 68 frames at 176x144) are timed
"""
import dataclasses, time, sys, math
from fractions import Fraction
import numpy as np, torch
import inrcodec.model.config as c
from inrcodec.rate import widths_for_weights
from inrcodec.bitstream import Header, LayerPayload, Segment, read_slt, write_slt
from inrcodec.decoder import Decoder
from inrcodec.methods.supermask import level_entropy_bits as H
from inrcodec.threads import set_threads
set_threads(2)
old=(0.5,0.8,0.92); new=(0.9,0.9684,0.99)
W,Hh,F=176,144,60
# (name, preset overrides, schedule)
cands=[("base",{},old),("sparse",{},new),("r1.4 sparse",{"reduce":1.4},new),("r1.2 old",{"reduce":1.2},old),("r1.2 sparse",{"reduce":1.2},new),("r1.0 old",{"reduce":1.0},old),("r1.0 sparse",{"reduce":1.0},new)]
bpp=float(sys.argv[1]) if len(sys.argv)>1 else 0.1
rng=np.random.default_rng(0)
files={}
for name,kw,sp in cands:
    orig=c.PRESETS["small"]; c.PRESETS["small"]=dataclasses.replace(orig,**kw)
    w=widths_for_weights(W,Hh,"small",bpp*W*Hh*68/H(sp)); net=c.plan_network(W,Hh,"small",**w)
    c.PRESETS["small"]=orig
    layers=[]
    for _,shape in net.layer_shapes():
        n=math.prod(shape); d=[1.0]+[1-s for s in sp]+[0.0]
        p=[d[j]-d[j+1] for j in range(4)]
        layers.append(LayerPayload(np.full(3,0.05,np.float32), rng.choice(4,size=n,p=p).astype(np.uint8)))
    h=Header(width=W,height=Hh,frames=F,fps=Fraction(25),sparsity=sp,network=net)
    files[name]=write_slt(h,[Segment(0,F,0,layers)])
res={k:[] for k in files}
for r in range(3):
    for name,data in files.items():
        header,segs,_=read_slt(data)
        t0=time.perf_counter()
        for _ in Decoder(header,segs,torch.device("cpu")).render(range(F)): pass
        res[name].append(F/(time.perf_counter()-t0))
for name,_,_ in cands:
    print(f"{name:>12}: best of 3 {max(res[name]):.0f} fps at {W}x{Hh}, {bpp} bpp widths")
