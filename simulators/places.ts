/**
 * Real Chinese cities (WGS-84 city-centre coordinates, rounded; altitude in metres) where the
 * simulated fleet is based. Spread over provinces with busy construction markets and a few
 * inland ones, so a map of the fleet looks like a dealer network and province borders matter.
 */
import type { LatLon } from './geo.ts';

export interface City extends LatLon {
  name: string;
  nameZh: string;
  province: string;
  provinceZh: string;
  alt: number;
}

const P = {
  js: ['Jiangsu', '江苏'],
  zj: ['Zhejiang', '浙江'],
  sd: ['Shandong', '山东'],
  ha: ['Henan', '河南'],
  he: ['Hebei', '河北'],
  gd: ['Guangdong', '广东'],
  sc: ['Sichuan', '四川'],
  hb: ['Hubei', '湖北'],
  hn: ['Hunan', '湖南'],
  ah: ['Anhui', '安徽'],
  sn: ['Shaanxi', '陕西'],
  yn: ['Yunnan', '云南'],
} as const;

function city(
  name: string,
  nameZh: string,
  p: readonly [string, string],
  lat: number,
  lon: number,
  alt: number,
) {
  return { name, nameZh, province: p[0], provinceZh: p[1], lat, lon, alt } satisfies City;
}

export const CITIES: readonly City[] = [
  city('Xuzhou', '徐州', P.js, 34.2044, 117.2859, 40),
  city('Nanjing', '南京', P.js, 32.0603, 118.7969, 15),
  city('Suzhou', '苏州', P.js, 31.299, 120.5853, 5),
  city('Nantong', '南通', P.js, 31.9802, 120.8943, 5),
  city('Hangzhou', '杭州', P.zj, 30.2741, 120.1551, 10),
  city('Ningbo', '宁波', P.zj, 29.8683, 121.544, 5),
  city('Jinhua', '金华', P.zj, 29.079, 119.6474, 60),
  city('Jinan', '济南', P.sd, 36.6512, 117.1201, 50),
  city('Qingdao', '青岛', P.sd, 36.0671, 120.3826, 20),
  city('Linyi', '临沂', P.sd, 35.1046, 118.3564, 70),
  city('Weifang', '潍坊', P.sd, 36.7069, 119.1618, 30),
  city('Zhengzhou', '郑州', P.ha, 34.7466, 113.6254, 110),
  city('Luoyang', '洛阳', P.ha, 34.6197, 112.454, 150),
  city('Nanyang', '南阳', P.ha, 32.9907, 112.5283, 130),
  city('Shangqiu', '商丘', P.ha, 34.4143, 115.6564, 50),
  city('Shijiazhuang', '石家庄', P.he, 38.0428, 114.5149, 80),
  city('Baoding', '保定', P.he, 38.8739, 115.4646, 20),
  city('Tangshan', '唐山', P.he, 39.6305, 118.1802, 25),
  city('Handan', '邯郸', P.he, 36.6256, 114.5391, 60),
  city('Guangzhou', '广州', P.gd, 23.1291, 113.2644, 20),
  city('Dongguan', '东莞', P.gd, 23.0205, 113.7518, 15),
  city('Foshan', '佛山', P.gd, 23.0215, 113.1214, 10),
  city('Huizhou', '惠州', P.gd, 23.1115, 114.4152, 20),
  city('Chengdu', '成都', P.sc, 30.5728, 104.0668, 500),
  city('Mianyang', '绵阳', P.sc, 31.4675, 104.6791, 470),
  city('Yibin', '宜宾', P.sc, 28.7513, 104.6417, 290),
  city('Wuhan', '武汉', P.hb, 30.5928, 114.3055, 25),
  city('Yichang', '宜昌', P.hb, 30.6919, 111.2865, 70),
  city('Xiangyang', '襄阳', P.hb, 32.009, 112.1224, 70),
  city('Changsha', '长沙', P.hn, 28.2282, 112.9388, 50),
  city('Zhuzhou', '株洲', P.hn, 27.8274, 113.134, 50),
  city('Hengyang', '衡阳', P.hn, 26.8968, 112.572, 60),
  city('Hefei', '合肥', P.ah, 31.8206, 117.2272, 30),
  city('Wuhu', '芜湖', P.ah, 31.3526, 118.4331, 10),
  city('Fuyang', '阜阳', P.ah, 32.89, 115.8142, 30),
  city("Xi'an", '西安', P.sn, 34.3416, 108.9398, 400),
  city('Baoji', '宝鸡', P.sn, 34.3619, 107.2373, 600),
  city('Kunming', '昆明', P.yn, 25.0389, 102.7183, 1890),
  city('Qujing', '曲靖', P.yn, 25.49, 103.7962, 1870),
];

export function cityNamed(name: string): City {
  const found = CITIES.find((c) => c.name === name);
  if (!found) throw new Error(`unknown city ${name}`);
  return found;
}

/**
 * The scripted story's route: from Xuzhou west along the Lianhuo expressway (G30), through Xiao
 * County and Dangshan in Anhui, into Henan at Shangqiu and on towards Zhengzhou. The first
 * province border (Jiangsu → Anhui) is about 20 km out of town.
 */
export const STORY_ROUTE: readonly (LatLon & { label: string; province: string })[] = [
  { label: 'Xuzhou yard', province: 'Jiangsu', lat: 34.2044, lon: 117.2859 },
  { label: 'G30 Xuzhou west', province: 'Jiangsu', lat: 34.235, lon: 117.08 },
  { label: 'Xiao County', province: 'Anhui', lat: 34.25, lon: 116.9 },
  { label: 'Dangshan', province: 'Anhui', lat: 34.42, lon: 116.35 },
  { label: 'Yucheng', province: 'Henan', lat: 34.4, lon: 115.9 },
  { label: 'Shangqiu', province: 'Henan', lat: 34.4143, lon: 115.6564 },
  { label: 'Kaifeng', province: 'Henan', lat: 34.7973, lon: 114.3076 },
  { label: 'Zhongmu farm yard', province: 'Henan', lat: 34.72, lon: 113.98 },
];
